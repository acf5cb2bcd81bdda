"""The producer SDK: publish translation requests and await their translations."""
