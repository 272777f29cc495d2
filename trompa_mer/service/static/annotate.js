// The annotation page: the user's pending songs, a quadrant per song, submit -> retrain -> next query.
// No build step and no dependencies. Song ids only ever reach the page through textContent and
// attributes set from script, never through innerHTML.
"use strict";

(() => {
  const TOKEN_KEY = "trompa-mer-token";
  const api = new URL("../", window.location.href);  // the app's root, also behind a path prefix
  const userId = decodeURIComponent(window.location.pathname.split("/").pop());
  const page = {
    message: document.getElementById("message"),
    status: document.getElementById("status"),
    songs: document.getElementById("songs"),
    list: document.getElementById("song-list"),
    send: document.getElementById("send"),
    progress: document.getElementById("progress"),
    ask: document.getElementById("ask"),
    count: document.getElementById("count"),
    getSongs: document.getElementById("get-songs"),
    template: document.getElementById("song-template"),
  };
  let shown = [];       // song ids on screen, in query order
  let blobUrls = [];    // audio Blob URLs to release when the songs change
  let busy = false;

  // The token comes in the URL fragment (never sent to the server nor logged), is kept for this tab
  // only, and is removed from the address bar so it is not bookmarked or shared by accident.
  function readToken() {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    if (fragment.has("token")) {
      sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }
  const token = readToken();

  async function call(method, path, body, extraHeaders) {
    const headers = {Accept: "application/json", ...extraHeaders};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(new URL(path, api), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
      });
    } catch (error) {
      throw new Error("The server cannot be reached: check your connection and reload the page.");
    }
    return response;
  }

  async function json(method, path, body) {
    const response = await call(method, path, body);
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const said = data && typeof data.error === "string" ? data.error : response.statusText;
      const hint = response.status === 401
        ? " Open the link you were given again: it carries your access key." : "";
      throw new Error(`${said || "request failed"} (${response.status}).${hint}`);
    }
    return data;
  }

  function userPath(suffix) {
    return "users/" + encodeURIComponent(userId) + suffix;
  }

  function showError(error) {
    page.message.textContent = error.message || String(error);
  }

  function clearError() {
    page.message.textContent = "";
  }

  function setBusy(value) {
    busy = value;
    page.getSongs.disabled = value;
    document.body.classList.toggle("busy", value);
    updateSend();
  }

  // Song id -> quadrant of the songs answered so far (fromEntries: an id such as "__proto__" stays a key).
  function answers() {
    return Object.fromEntries(shown.flatMap((song, index) => {
      const checked = page.list.querySelector(`input[name="song-${index}"]:checked`);
      return checked ? [[song, checked.value]] : [];
    }));
  }

  function updateSend() {
    const done = Object.keys(answers()).length;
    page.send.disabled = busy || shown.length === 0 || done < shown.length;
    page.progress.textContent = shown.length ? `${done} of ${shown.length} answered` : "";
  }

  function releaseAudio() {
    for (const url of blobUrls) URL.revokeObjectURL(url);
    blobUrls = [];
  }

  function audioPath(song) {
    return "audio/" + encodeURIComponent(song);
  }

  // A song gets a Listen button when it has audio: a one-byte range request tells, so that a round
  // of full-length tracks is not downloaded before anyone listens. A song without audio (404, or no
  // audio folder configured) simply gets no player.
  async function attachAudio(song, player, label) {
    let probe;
    try {
      probe = await call("GET", audioPath(song), undefined, {Range: "bytes=0-0"});
    } catch (error) {
      return;
    }
    if (!probe.ok || !shown.includes(song)) return;
    const listen = document.createElement("button");
    listen.type = "button";
    listen.className = "listen";
    listen.textContent = "\u25B6 Listen";
    listen.setAttribute("aria-label", "Listen to " + label);
    listen.addEventListener("click", () => loadAudio(song, listen, label));
    player.append(listen);
  }

  // <audio> cannot send the Authorization header: the song is fetched with it into a Blob URL, then
  // a player takes the button's place and starts.
  async function loadAudio(song, listen, label) {
    listen.disabled = true;
    listen.textContent = "Loading\u2026";
    let response;
    try {
      response = await call("GET", audioPath(song));
    } catch (error) {
      showError(error);
      listen.disabled = false;
      listen.textContent = "\u25B6 Listen";
      return;
    }
    if (!response.ok) {
      listen.textContent = "No audio";
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    if (!shown.includes(song)) {
      URL.revokeObjectURL(url);
      return;
    }
    blobUrls.push(url);
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = url;
    audio.setAttribute("aria-label", "Play " + label);
    listen.replaceWith(audio);
    audio.focus();
    audio.play().catch(() => {});  // a browser may refuse to start it; the controls remain
  }

  function showSongs(songs) {
    releaseAudio();
    shown = songs.slice();
    page.list.replaceChildren();
    songs.forEach((song, index) => {
      const item = page.template.content.firstElementChild.cloneNode(true);
      const label = `song ${index + 1}`;
      item.querySelector(".song-number").textContent = `${index + 1}.`;
      item.querySelector(".song-id").textContent = song;
      for (const input of item.querySelectorAll("input[type=radio]")) {
        input.name = `song-${index}`;
        input.required = true;
      }
      page.list.append(item);
      attachAudio(song, item.querySelector(".player"), label);
    });
    page.songs.hidden = songs.length === 0;
    page.getSongs.hidden = songs.length > 0;
    page.ask.querySelector("label").textContent = songs.length ? "Songs in the next round" : "Songs per round";
    updateSend();
  }

  function learnt(state) {
    const n = state.answered_count;
    page.status.textContent = n
      ? `Learnt from ${n} answer${n === 1 ? "" : "s"} so far.`
      : "No answers yet: your first ones teach the most.";
  }

  async function askForSongs() {
    const n = Number(page.count.value);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error("Choose how many songs you want: a whole number of at least 1.");
    }
    const query = await json("POST", userPath("/queries"), {n, strategy: null, requery: false});
    showSongs(query.songs.map((song) => song.song_id));
  }

  async function start() {
    setBusy(true);
    try {
      const state = await json("GET", userPath(""));
      learnt(state);
      showSongs(state.pending ? state.queried : []);
      page.ask.hidden = false;
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  }

  page.list.addEventListener("change", updateSend);

  page.ask.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy || shown.length) return;
    clearError();
    setBusy(true);
    try {
      await askForSongs();
      page.list.querySelector("input")?.focus();
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  });

  page.songs.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = answers();
    if (busy || Object.keys(chosen).length < shown.length) return;
    clearError();
    setBusy(true);
    const before = page.status.textContent;
    page.status.textContent = "Learning from your answers…";
    try {
      await json("POST", userPath("/annotations"), {annotations: chosen});
      learnt(await json("GET", userPath("")));
      showSongs([]);
      await askForSongs();
      page.list.querySelector("input")?.focus();
    } catch (error) {
      if (page.status.textContent === "Learning from your answers…") page.status.textContent = before;
      showError(error);
    } finally {
      setBusy(false);
    }
  });

  // A link with another token opened in this tab changes only the fragment: no reload happens by itself.
  window.addEventListener("hashchange", () => {
    if (new URLSearchParams(window.location.hash.slice(1)).has("token")) {
      readToken();
      window.location.reload();
    }
  });

  start();
})();
