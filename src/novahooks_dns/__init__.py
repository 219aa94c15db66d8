"""DNS records that follow instances (see the DNS plugin issue)."""
