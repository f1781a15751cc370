# Builds the demo's fake-broker fixture: the two books' broker holdings (broker-fixture.sql),
# the demo credentials, and the deliberate broker-side breaks. Inputs: $uae, $india (JSON),
# $public_key (path of the PEM the GTN JWT is verified with), $ae_c007_cash and $in_c021_cash
# (the cash GTN and ViewTrade hold for those two after events the ledger booked wrongly).
{
  gtn: ($uae.gtn + {public_key_file: $public_key, app_key: "demo-app", app_secret: "demo-secret",
                    institution: "DEMO", user_id: "demo-server-user",
                    throttle_key: "demo-throttle"}),
  zag: ($uae.zag + {api_key: "demo-zag-key"}),
  viewtrade: ($india.viewtrade + {api_key: "demo-viewtrade-key"}),
  # A slow customer: IN-C025's ViewTrade account answers after 3 s, past the demo's 1 s
  # RECON_BROKER_TIMEOUT_MS, so each attempt times out and the customer is a fetch_error (the
  # other customers are still compared).
  faults: [{broker: "viewtrade", account: "VIEWTRADE-00070025", kind: "latency", ms: 3000}]
}
# AE-C007's whole deposit reached GTN; IN-C021's dividend was paid by ViewTrade.
| .gtn.accounts["GTN-00070007"].cash[0].balance = $ae_c007_cash
| .viewtrade.accounts["VIEWTRADE-00070021"].cash[0].amount = $in_c021_cash
# GTN holds 0.75 AAPL for AE-C013 where the ledger booked 1.75: a short position.
| .gtn.accounts["GTN-00070013"].securities |= map(if .symbol == "AAPL" then .quantity = "0.75" else . end)
# ZAG has no NVDA for AE-C021 although the ledger booked a buy: likely a missed sell ingest.
| .zag.accounts["ZAG-021"].holdings |= map(select(.symbol != "NVDA"))
# ViewTrade holds 3 TSLA for IN-C020 that the ledger never booked: likely a missing buy ingest.
| .viewtrade.accounts["VIEWTRADE-00070020"].positions += [{symbol: "TSLA", quantity: "3"}]
