"""Offline evaluation: datasets in the tidy format, metrics, the eval runner and its report."""
