"""Stream processing: the faust app, re-keying, dedup/single-flight and provider batching."""
