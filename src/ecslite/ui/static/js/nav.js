// Navigation without reloading, shared by the router (main.js) and the pages.

let router = null;

export function setRouter(fn) {
  router = fn;
}

export function navigate(href, replace) {
  const url = new URL(href, location.origin);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui") || !router) {
    location.href = href;
    return;
  }
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  router(!replace);
}
