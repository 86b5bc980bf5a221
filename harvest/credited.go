package harvest

// CreditedBits is the entropy the harvest credited, summed over the
// healthy sources: what Config.MinBits is compared with.
func (r *Report) CreditedBits() float64 { return r.creditedBits }
