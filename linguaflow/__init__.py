"""linguaflow: CLI and composition root (bootstrap) of the translation pipeline."""
