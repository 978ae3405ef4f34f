"""Deploy-aware tuning benchmark (#14): a tabulated grid of models replayed by samplers."""
