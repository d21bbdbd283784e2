// The floor: a pass-through Worker that forwards every request to the origin unchanged (same
// method, path, query, headers and body) and returns the origin's response. No authentication,
// no header work: what remains is the cost of workerd, one subrequest and the origin itself.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.ORIGIN + url.pathname + url.search, request));
  },
};
