"""The machine interface (/api/v1): API clients and their credentials, orders created and
followed by machines, problem details, and Idempotency-Key."""
