"""Link to calls: the resident agent, its wire format, the session, stubs and proxies."""
