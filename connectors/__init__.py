"""Broker adapters, the message model and dead-letter parsing: plain asyncio, no Qt."""
