"""From scores and identities to a decision with reasons."""
