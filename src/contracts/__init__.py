"""Contracts with upstream packages (ms-swift, transformers): snapshots and their generators."""
