"""Partner Marketplace: the one listing model, its loader and validator, and the CLI."""
