"""The eval log formats Cockpit reads (a light module: the CLI lists them at start-up)."""

FORMATS = ("inspect-eval", "inspect-json", "lm-eval", "lm-eval-results", "openai-evals",
           "promptfoo", "jsonl", "json", "csv", "parquet")
