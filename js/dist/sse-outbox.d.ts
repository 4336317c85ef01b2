/*!
 * sse-outbox 0.1.0 (types): One Server-Sent Events stream shared by every tab, with token refresh, for the sse-outbox server
 * Built by js/build.mjs from js/src/; edit the source, not this file.
 *
 * BSD 2-Clause License
 *
 * Copyright (c) 2026, the sse-outbox authors
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions are met:
 *
 * 1. Redistributions of source code must retain the above copyright notice, this
 *    list of conditions and the following disclaimer.
 *
 * 2. Redistributions in binary form must reproduce the above copyright notice,
 *    this list of conditions and the following disclaimer in the documentation
 *    and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 * AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 * IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
 * DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
 * FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 * DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
 * SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
 * CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
 * OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
 * OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
 */
// SPDX-License-Identifier: BSD-2-Clause
// Types of sse-outbox (the browser helper). Needs the DOM library
// (EventTarget, MessageEvent), as any code using EventSource does.

declare class SSEOutbox extends EventTarget {
  constructor(url: string | URL, options?: SSEOutbox.Options);
  constructor(url: SSEOutbox.URLProvider,
              options: SSEOutbox.Options & { name: string });

  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;

  /** The stream's absolute URL, without lastEventId (and without the
   * token a token provider adds). */
  readonly url: string;
  readonly withCredentials: boolean;
  /** The shared stream's state, as the leader sees it. */
  readonly readyState: 0 | 1 | 2;
  /** The last id this tab delivered. */
  readonly lastEventId: string;
  /** Whether this tab holds the stream. */
  readonly isLeader: boolean;
  /** How the tabs share: 'locks', 'broadcast', or 'none' (this tab has a
   * plain EventSource of its own). */
  readonly sharing: 'locks' | 'broadcast' | 'none';
  /** The sharing name (see options.name). */
  readonly name: string;

  onmessage: ((this: SSEOutbox, ev: MessageEvent<string>) => any) | null;
  onopen: ((this: SSEOutbox, ev: Event) => any) | null;
  onerror: ((this: SSEOutbox, ev: Event) => any) | null;

  addEventListener<K extends keyof SSEOutbox.EventMap>(
    type: K,
    listener: (this: SSEOutbox, ev: SSEOutbox.EventMap[K]) => any,
    options?: boolean | AddEventListenerOptions): void;
  addEventListener(
    type: string,
    listener: (this: SSEOutbox, ev: MessageEvent<string>) => any,
    options?: boolean | AddEventListenerOptions): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SSEOutbox.EventMap>(
    type: K,
    listener: (this: SSEOutbox, ev: SSEOutbox.EventMap[K]) => any,
    options?: boolean | EventListenerOptions): void;
  removeEventListener(
    type: string,
    listener: (this: SSEOutbox, ev: MessageEvent<string>) => any,
    options?: boolean | EventListenerOptions): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions): void;

  /** Connect again now through the providers (after 'auth-error', or
   * when the page has a new token). Any tab may call it. */
  reconnect(): void;
  /** This tab leaves; if it held the stream, another tab takes over. */
  close(): void;
}

declare namespace SSEOutbox {
  /** What a provider is told before each connection. */
  interface ConnectInfo {
    /** The last id the tabs delivered ('' before the first event). */
    lastEventId: string;
    /** The previous connection was refused with 401 or 403: refresh now. */
    authFailed: boolean;
  }

  /** Gives the stream's URL before every connection (sync or async). */
  type URLProvider =
    (info: ConnectInfo) => string | URL | PromiseLike<string | URL>;

  /** Gives the token, sent as the query parameter `token` (sync or async);
   * null, undefined or '' sends none (a cookie, say, carries it). */
  type TokenProvider =
    (info: ConnectInfo) =>
      string | null | undefined | PromiseLike<string | null | undefined>;

  interface Options {
    /** Resume after this id (the page was rendered up to it). */
    lastEventId?: string | number | null;
    /** Passed to EventSource: send cookies to another origin. */
    withCredentials?: boolean;
    /** Event types to ask for before any listener is added. */
    events?: string[];
    /** Called before every connection; its result goes in ?token=. */
    token?: TokenProvider;
    /** First delay of the helper's own reconnects, in ms (default 1000). */
    retry?: number;
    /** Lock and channel name shared by the tabs; default: the absolute URL
     * without its query and fragment. Required with a URL function. */
    name?: string;
    /** How tabs share the stream: 'auto' (Web Locks, else BroadcastChannel
     * heartbeats, else none), or force 'locks', 'broadcast' or 'none'. */
    election?: 'auto' | 'locks' | 'broadcast' | 'none';
  }

  /** 'auth-error': the server refused the stream with this status twice in
   * a row; the object is CLOSED until reconnect(). */
  interface AuthErrorEvent extends Event {
    readonly status: number;
  }

  interface EventMap {
    open: Event;
    error: Event;
    message: MessageEvent<string>;
    leaderchange: Event;
    'auth-error': AuthErrorEvent;
  }
}

// <esm-only> (named type exports; the CommonJS types have them as SSEOutbox.*)
export type SSEOutboxConnectInfo = SSEOutbox.ConnectInfo;
export type SSEOutboxURLProvider = SSEOutbox.URLProvider;
export type SSEOutboxTokenProvider = SSEOutbox.TokenProvider;
export type SSEOutboxOptions = SSEOutbox.Options;
export type SSEOutboxAuthErrorEvent = SSEOutbox.AuthErrorEvent;
export type SSEOutboxEventMap = SSEOutbox.EventMap;
// </esm-only>

export default SSEOutbox;
