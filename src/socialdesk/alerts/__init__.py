"""Volume alerts: say within minutes when more customers than usual write about something (a
new timetable, a fare change, an outage), so a plan that is not working is noticed by the people
who can change it, not in next month's report."""
