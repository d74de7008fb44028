"""SLA clocks: durations, China's working-day calendar, timers."""
