"""Fulcrum: automated margin protocol for Starknet."""
