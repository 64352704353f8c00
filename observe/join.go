package observe

import "context"

// Join returns an Observer that passes every call to each of obs: Start in
// order, each given the context the one before returned (so a later
// observer's spans nest inside an earlier one's), Event to each in order,
// End in reverse order, as deferred calls unwind. Nil observers are
// dropped; Join returns nil when none is left and the observer itself when
// one is, so joining costs nothing unless two really watch.
func Join(obs ...Observer) Observer {
	var live joined
	for _, o := range obs {
		switch o := o.(type) {
		case nil:
		case joined:
			live = append(live, o...)
		default:
			live = append(live, o)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return live
}

// joined is the Observer Join builds from two or more.
type joined []Observer

func (j joined) Start(ctx context.Context, c Call) context.Context {
	for _, o := range j {
		ctx = o.Start(ctx, c)
	}
	return ctx
}

func (j joined) Event(ctx context.Context, e Event) {
	for _, o := range j {
		o.Event(ctx, e)
	}
}

func (j joined) End(ctx context.Context, c Call, err error) {
	for i := len(j) - 1; i >= 0; i-- {
		j[i].End(ctx, c, err)
	}
}
