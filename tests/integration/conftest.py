from tests.integration.fixtures.protocol import build, devnet, protocol

__all__ = ["build", "devnet", "protocol"]
