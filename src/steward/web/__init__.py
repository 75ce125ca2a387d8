"""The web application: server-rendered pages for the committee, the safety officer, the data
scientist and the public, mounted into the same FastAPI app as the API and sharing its services,
permissions and one-transaction-per-request rule. Every asset is served by the app itself."""
