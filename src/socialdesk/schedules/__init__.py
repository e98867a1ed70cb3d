"""When teams work: weekly business hours in a time zone, with holidays."""
