"""AWS STS: the caller's identity (the seed's guide derives the account id from it)."""
