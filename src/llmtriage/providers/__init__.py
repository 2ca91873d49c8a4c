"""Model providers: one adapter per upstream API, all speaking OpenAI chat-completion dicts."""
