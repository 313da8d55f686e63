"""Page and API plumbing every package shares: form reading and the signed-action pattern, words for stored codes, problem answers and error pages."""
