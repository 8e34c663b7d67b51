"""The world plane server: Cosmos Predict → Transfer → Reason, with a local stand-in backend."""
