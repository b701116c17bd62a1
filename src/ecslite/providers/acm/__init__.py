"""AWS Certificate Manager (ACM)."""
