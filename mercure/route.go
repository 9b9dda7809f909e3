package mercure

// Route is one subscriber's routing and rights, as the hub consults them
// for every update of a topic the subscriber does not follow exactly, and
// for every private update (it implements hub.Selector). Exact matchers
// are not in it: the hub indexes those topics itself.
type Route struct {
	patterns []*Matcher
	grants   *Grants
}

// NewRoute returns the route of a subscriber with the matchers of s and
// the grants of its token (nil without a token).
func NewRoute(s *Subscribe, g *Grants) *Route {
	return &Route{patterns: s.Patterns(), grants: g}
}

// Matches reports whether one of the subscriber's non-exact matchers
// selects topic. Each matcher remembers its answer per topic.
func (r *Route) Matches(topic string) bool { return anyMatch(r.patterns, topic) }

// HasPatterns reports whether the subscriber has non-exact matchers.
func (r *Route) HasPatterns() bool { return len(r.patterns) > 0 }

// MayRead reports whether the subscriber may receive a private update to
// topics: its token grants subscribe on one of them (Subscribers).
func (r *Route) MayRead(topics []string) bool { return r.grants.CanRead(topics) }

// ReadsPrivate reports whether the subscriber may receive any private
// update at all.
func (r *Route) ReadsPrivate() bool { return r.grants.Reads() }
