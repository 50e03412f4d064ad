//! Virtual keys, teams, customers, budgets, rate limits (filled by the governance issue).
