// Package deploy holds no code: it is the home of Bulwark's deployment files and of the tests
// that check them with the real tools (SEEDS.md D1, D4; issue 7, "Alerts and dashboards").
//
//   - prometheus/bulwark-rules.yml: recording rules for the golden signals per service and
//     level (service_level:bulwark_...:rate5m and friends) and the alerts: p99 latency
//     (warning after 3m, critical after 10m), failure ratio over 3x the same window
//     yesterday, multiwindow multi-burn-rate SLO alerts for levels 1 and 2, breaker open,
//     retry window collapsed, level-1 traffic shed, spans dropped.
//   - prometheus/bulwark-rules.test.yml: promtool unit tests, one firing and one quiet case
//     for every alert.
//   - alertmanager/alertmanager.yml: grouping by alertname and service (convergence), the
//     timings, and the inhibition of a warning by the critical alert of the same signal on
//     the same service.
//   - grafana/bulwark.json: the dashboard.
//
// The tests run promtool check/test rules, amtool check-config, a real Alertmanager (routing
// and inhibition), static checks of the dashboard, and an integration test in which a real
// Prometheus scrapes a running gateway under load and evaluates every rule and every
// dashboard expression through its HTTP API. They find promtool, prometheus, amtool and
// prometheus-alertmanager on PATH (or in /usr/bin); when one is missing they skip and say
// what to install, except under BULWARK_REQUIRE_DEPS=1 (scripts/test), where they fail.
//
// Decisions where the issue is silent:
//   - An error is a 5xx answer; 429, other 4xx and 499 are not (they are limits or the
//     caller's doing). Shedding counts as an error: the user got no answer.
//   - SLOs are data (level:bulwark_slo_error_budget:ratio): 99.9 % for level 1, 99.5 % for
//     level 2, over 30 days; the fast burn (14.4x over 1h and 5m) is critical, the slow burn
//     (6x over 6h and 30m) a warning.
//   - The p99 threshold is 250 ms, the gateway's default timeout.thwm.
//   - "3x yesterday" counts yesterday's ratio as at least 0.1 %, and needs 1 request/s now
//     and traffic yesterday.
//   - The inhibit rule's equal labels are [signal, service]: the two alerts of a pair share a
//     signal label, and a critical alert never mutes a warning about a different problem.
package deploy
