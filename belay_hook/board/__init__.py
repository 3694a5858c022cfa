"""Port to Link: finding boards, opening ports, and the raw REPL spoken on them."""
