VERSION = "0.1.0"
USER_AGENT = f"newsfetcher/{VERSION} (+https://github.com/newsfetcher; Django feed fetcher)"
