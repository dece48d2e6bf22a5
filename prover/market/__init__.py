"""The inference market: offers, requests, batch fulfilment, and what a keeper reads of it."""
