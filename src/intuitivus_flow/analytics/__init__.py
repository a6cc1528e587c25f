"""Business analytics: events in a columnar store, funnels, journeys, retention, KPIs, CLV."""
