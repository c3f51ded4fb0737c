package config

import "reflect"

// Equal reports whether two services have the same configuration, so that a reload can keep
// the breakers, limiters and host state of services that did not change. It compares every
// field, Name included, through pointers (two *bool pointing at true are equal), and treats a
// nil map or slice as equal to an empty one, since both mean "none". Order matters in lists:
// hosts in another order are another configuration. Compare validated services: an unset
// field and its explicit default differ until Validate fills the default. Equal(nil, nil) is
// true; nil is not equal to any non-nil service.
func Equal(a, b *Service) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equalValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

// equalValue is reflect.DeepEqual with nil and empty maps and slices equal. Service holds no
// cycles, functions or channels, so a plain recursion suffices.
func equalValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		iter := a.MapRange()
		for iter.Next() {
			bv := b.MapIndex(iter.Key())
			if !bv.IsValid() || !equalValue(iter.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	panic("config: Equal cannot compare " + a.Type().String())
}

// RestartChanges lists the key paths of the settings that differ between the config in force
// (old) and cfg and that a reload cannot apply, so that a reload refuses them and asks for a
// restart, as it does for the listeners: listen, admin.listen, tls, the whole fleet section
// (the Redis client, prefix and intervals are fixed when the fleet starts), and instance
// while either config has a fleet (the fleet keys heartbeats and counts by it; without a fleet
// instance reloads), tracing except its sample_rate, profiling and sentry (the exporter, the
// profiler and the Sentry client are made when the gateway starts). Everything else reloads, the per-service cache, dr_cache,
// fallback_upstreams and rate_limit.scope included: the service is rebuilt (see Equal). Nil
// and empty compare as in Equal. nil means cfg can be reloaded; compare validated configs.
func RestartChanges(old, cfg *Config) []string {
	var changed []string
	differ := func(path string, a, b any) {
		if !equalValue(reflect.ValueOf(a), reflect.ValueOf(b)) {
			changed = append(changed, path)
		}
	}
	differ("listen", old.Listen, cfg.Listen)
	differ("admin.listen", old.Admin.Listen, cfg.Admin.Listen)
	differ("tls", old.TLS, cfg.TLS)
	differ("fleet", old.Fleet, cfg.Fleet)
	ot, nt := old.Tracing, cfg.Tracing // the sample rate reloads; the exporter does not
	ot.SampleRate, nt.SampleRate = nil, nil
	differ("tracing", ot, nt)
	differ("profiling", old.Profiling, cfg.Profiling)
	differ("sentry", old.Sentry, cfg.Sentry)
	if old.Fleet != nil || cfg.Fleet != nil {
		differ("instance", old.Instance, cfg.Instance)
	}
	return changed
}
