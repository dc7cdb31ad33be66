// Mounts GraphiQL on this page's own /graphql endpoint.
//
// This is a file and not an inline <script> (nor is the page's style an inline <style>):
// the page's Content-Security-Policy (argus/http/middleware.py) allows scripts and styles from
// the server's own origin only, so inline code would be refused. The page's two style
// rules are set here through the DOM, which the policy allows.
document.body.style.margin = "0";
const root = document.getElementById("graphiql");
root.style.height = "100vh";

const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
const defaultQuery = `# Argus: regime, novelty and correlations per symbol.
#
# Any written form of a symbol works: BTC, btc-usd, BTC/USDT and BINANCE:BTCUSDT all
# mean BINANCE:BTC-USDT. A batch answers one entry per input, in order:
#   { symbols(symbols: ["BTC", "ETH-USD", "AAPL"]) { symbol regime { timeframe label } } }
query Example {
  symbol(symbol: "BTC-USD") {
    symbol
    regime(timeframes: [H1, D1]) { timeframe label confidence stale }
    novelty { score percentile }
    correlations(first: 5) { partner { symbol } coefficient }
  }
}
`;
ReactDOM.createRoot(root).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true })
);
