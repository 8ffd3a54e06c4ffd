// A tiny history router: routes are one segment under the base path; tab state lives in ?tab=.
import { useEffect, useState } from "react";
import { BASE } from "./api";

const EVENT = "hy2scale:navigate";

export interface Route {
  page: string;
  query: URLSearchParams;
}

function current(): Route {
  let path = location.pathname;
  if (path.startsWith(BASE)) path = path.slice(BASE.length);
  const page = path.replace(/^\/+/, "").split("/")[0] || "";
  return { page, query: new URLSearchParams(location.search) };
}

export function navigate(to: string, replace = false): void {
  const url = `${BASE}/${to.replace(/^\//, "")}`;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.dispatchEvent(new Event(EVENT));
}

export function setQuery(key: string, value: string): void {
  const q = new URLSearchParams(location.search);
  q.set(key, value);
  history.replaceState(null, "", `${location.pathname}?${q}`);
  window.dispatchEvent(new Event(EVENT));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return route;
}

export function Link(props: { to: string; className?: string; children: React.ReactNode; onClick?: () => void }) {
  return (
    <a
      href={`${BASE}/${props.to}`}
      className={props.className}
      aria-current={current().page === props.to ? "page" : undefined}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        props.onClick?.();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
