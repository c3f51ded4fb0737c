package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

// obsColorToken is the color token the observability example reads from the environment.
const obsColorToken = "0123456789abcdef-token"

// setObserveEnv sets the variables testdata/observe.yaml references.
func setObserveEnv(t *testing.T) {
	t.Helper()
	t.Setenv("OTEL_API_KEY", "k-123")
	t.Setenv("BULWARK_COLOR_TOKEN", obsColorToken)
	t.Setenv("SENTRY_DSN", "https://public@o1.ingest.sentry.io/42")
}

func TestLoadObserveExample(t *testing.T) {
	setObserveEnv(t)
	cfg, err := Load("testdata/observe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := struct {
		Log       Log
		Tracing   Tracing
		Keywords  Keywords
		Mask      Mask
		Color     Color
		Profiling Profiling
		Sentry    Sentry
	}{
		Log: Log{Level: "info", Access: ptr(true), SuccessSample: ptr(0.1)},
		Tracing: Tracing{Enabled: true, Endpoint: "http://127.0.0.1:4318/v1/traces", Protocol: ProtocolHTTP,
			SampleRate: ptr(0.01), Headers: map[string]string{"Api-Key": "k-123"}, Queue: 2048},
		Keywords: Keywords{Headers: []string{"X-Order-Id"}, Query: []string{"user_id"}},
		Mask:     Mask{Keys: []string{"Authorization", "Cookie", "X-Api-Key"}, Patterns: []string{"[0-9]{16}"}},
		Color: Color{TokenHeader: "Bulwark-Color-Token", Token: obsColorToken,
			TrustedCIDRs: []string{"10.2.0.0/24", "10.9.0.0/16"}},
		Profiling: Profiling{Enabled: true, Dir: "/var/lib/bulwark/profiles", Interval: Duration(5 * time.Minute),
			Duration: Duration(10 * time.Second), Keep: 288, MaxAge: Duration(24 * time.Hour)},
		Sentry: Sentry{DSN: "https://public@o1.ingest.sentry.io/42", Environment: "production"},
	}
	got := want
	got.Log, got.Tracing, got.Keywords, got.Mask = cfg.Log, cfg.Tracing, cfg.Keywords, cfg.Mask
	got.Color, got.Profiling, got.Sentry = cfg.Color, cfg.Profiling, cfg.Sentry
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observability sections\n got %+v\nwant %+v", got, want)
	}
	songs, charts := cfg.Services["songs"], cfg.Services["charts"]
	if !reflect.DeepEqual(songs.ShadowUpstreams, map[string][]string{"sz": {"10.1.9.1:7001"}, "sh": {"10.2.9.1:7001"}}) ||
		songs.Shadow != "" || charts.Shadow != ShadowPassthrough || charts.ShadowUpstreams != nil {
		t.Errorf("shadow settings: songs %v %q, charts %v %q", songs.ShadowUpstreams, songs.Shadow, charts.ShadowUpstreams, charts.Shadow)
	}
	var b strings.Builder
	cfg.Summary(&b)
	for _, secret := range []string{obsColorToken, "k-123", "public@"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("Summary prints a secret %q:\n%s", secret, b.String())
		}
	}
	for _, want := range []string{"color     token set (Bulwark-Color-Token), trusted 10.2.0.0/24,10.9.0.0/16\n",
		"tracing   http http://127.0.0.1:4318/v1/traces, sample 0.01\n", "songs    sh=1 sz=1\n", "charts   passthrough\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Summary lacks %q:\n%s", want, b.String())
		}
	}
}

// A share of 0 is a setting, not "the default", for the two shares that are pointers.
func TestObserveZeroShares(t *testing.T) {
	cfg, err := Parse("gw.yaml", []byte(withService+"log: {success_sample: 0}\ntracing: {sample_rate: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Log.SuccessSample != 0 || *cfg.Tracing.SampleRate != 0 {
		t.Fatalf("success_sample %v, sample_rate %v; want 0 and 0", *cfg.Log.SuccessSample, *cfg.Tracing.SampleRate)
	}
}

func TestObserveInMemory(t *testing.T) {
	c := memoryConfig()
	c.Tracing.Protocol = "HTTP/Protobuf"
	c.Mask.Keys = []string{"cookie", "X-Token", "x-token"}
	c.Color.TrustedCIDRs = []string{"::ffff:10.0.0.0/104"}
	c.Services["songs"].ShadowUpstreams = map[string][]string{"sz": {"127.0.0.1:7901"}}
	c.Services["songs"].Shadow = ""
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Tracing.Protocol != ProtocolHTTP || !reflect.DeepEqual(c.Mask.Keys, []string{"Authorization", "Cookie", "X-Token"}) ||
		c.Color.TokenHeader != DefaultColorTokenHeader || *c.Log.SuccessSample != 1 || *c.Tracing.SampleRate != DefaultTracingSampleRate {
		t.Fatalf("defaults: protocol %q, mask keys %v, token header %q", c.Tracing.Protocol, c.Mask.Keys, c.Color.TokenHeader)
	}
	before := reflect.ValueOf(*c).FieldByName("Mask").Interface()
	if err := c.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	if !reflect.DeepEqual(before, c.Mask) {
		t.Fatalf("Validate is not idempotent: mask %v then %v", before, c.Mask)
	}
	if pfx, _ := ParsePrefix(c.Color.TrustedCIDRs[0]); pfx != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("mapped prefix read as %v", pfx)
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = not a prefix
	}{
		{"10.1.0.0/16", "10.1.0.0/16"},
		{"10.1.2.3/16", "10.1.0.0/16"},
		{"127.0.0.1", "127.0.0.1/32"},
		{"::1", "::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::ffff:192.168.0.0/112", "192.168.0.0/16"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/33", ""},
		{"host.example", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParsePrefix(tt.in)
			if (tt.want == "") != !ok || ok && got.String() != tt.want {
				t.Fatalf("ParsePrefix(%q) = %v, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1", "::ffff:10.0.0.0/104", "2001:db8::1/64", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pfx, ok := ParsePrefix(s)
		if !ok {
			return
		}
		if !pfx.IsValid() || pfx != pfx.Masked() || pfx.Addr().Is4In6() {
			t.Fatalf("ParsePrefix(%q) = %v: not a valid, masked, unmapped prefix", s, pfx)
		}
		if again, ok := ParsePrefix(pfx.String()); !ok || again != pfx {
			t.Fatalf("ParsePrefix(%q) = %v, but its text reads back as %v, %v", s, pfx, again, ok)
		}
	})
}

// dsnProblem agrees with sentry-go's own parser on what a DSN is.
func TestDSNProblemAgreesWithSentry(t *testing.T) {
	for _, dsn := range []string{
		"https://public@o1.ingest.sentry.io/42",
		"https://public:secret@sentry.example.com:9000/sub/path/42",
		"http://k@127.0.0.1/1",
		"https://sentry.io/42",
		"ftp://k@sentry.io/42",
		"https://k@/42",
		"https://k@sentry.io",
		"https://k@sentry.io/",
		"https://k@sentry.io/42/",
		"https://k@sentry.io:x/42",
		"not a url at all",
		"://",
	} {
		_, err := sentry.NewDsn(dsn)
		why := dsnProblem(dsn)
		if (err == nil) != (why == "") {
			t.Errorf("%q: sentry says %v, dsnProblem says %q", dsn, err, why)
		}
	}
}
