"""Serving: the REST application, its request models, and loading bundles from the registry."""
