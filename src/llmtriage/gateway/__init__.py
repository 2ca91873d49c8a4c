"""The OpenAI-compatible gateway: ``create_app(config)`` builds the ASGI app."""
