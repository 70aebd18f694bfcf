// Shows every <time datetime="..."> in the viewer's own time zone; the UTC time stays in its
// title (shown on hover). Without JavaScript the pages show UTC.
document.querySelectorAll("time[datetime]").forEach(function (t) {
  var utc = t.getAttribute("datetime");
  var d = new Date(utc);
  if (isNaN(d.getTime())) return;
  t.title = utc.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  t.textContent = d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
});
