"""One construct per concern; ``infra.stack`` only composes them."""
