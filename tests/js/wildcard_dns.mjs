// Stands in for a wildcard DNS record in the tests: every name under .cdp.test resolves to
// 127.0.0.1, as *.cdp.example.com would resolve to the gateway in a real deployment.
import dns from "node:dns";

const lookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  if (typeof host === "string" && host.endsWith(".cdp.test")) {
    const answer = { address: "127.0.0.1", family: 4 };
    return options && options.all
      ? process.nextTick(callback, null, [answer])
      : process.nextTick(callback, null, answer.address, answer.family);
  }
  return lookup.call(this, host, options, callback);
};
