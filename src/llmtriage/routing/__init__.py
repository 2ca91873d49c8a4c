"""Routing: featurize a request, estimate each model's quality, choose under prices and tiers."""
