//! The live page around its parts: the style, the refreshing script and the page itself.

use crate::view::{View, fragment};

/// Narrow screens: the cards reflow, the two-column section stacks, tables too wide for
/// the screen scroll inside their own box, so the page never scrolls sideways.
const STYLE: &str = r"
:root{color-scheme:light dark;--bg:#101418;--fg:#e6e6e6;--card:#1b2128;--muted:#8a949e;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--accent:#8b5cf6}
@media (prefers-color-scheme: light){:root{--bg:#f6f8fa;--fg:#1f2328;--card:#fff;--muted:#656d76;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700}}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:2px 16px;justify-content:space-between;align-items:baseline;padding:12px 20px;border-bottom:1px solid var(--card)}
header h1{margin:0;font-size:20px}header h1 span{color:var(--accent)}main{padding:12px 20px}.below{padding:0 20px 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(170px,100%),1fr));gap:12px}
.card{background:var(--card);border-radius:8px;padding:10px 14px;min-width:0}.card h2{margin:0;font-size:12px;text-transform:uppercase;color:var(--muted)}
.card p{margin:2px 0;color:var(--muted)}.card .big{font-size:28px;font-weight:600;color:var(--fg);overflow-wrap:anywhere}
h2{font-size:15px;margin:18px 0 6px}.note{margin:4px 0;font-size:12px;color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%;background:var(--card);border-radius:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:right;padding:5px 10px;border-bottom:1px solid var(--bg)}th{color:var(--muted);font-weight:500}
td.name,th:first-child{text-align:left;font-family:ui-monospace,monospace}td.name{overflow-wrap:anywhere;min-width:6em}
.ok{color:var(--ok)}.bad{color:var(--bad)!important}.warn{color:var(--warn)!important}.muted{color:var(--muted)}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(280px,100%),1fr));gap:0 12px}.two>div{min-width:0}
.chart{display:flex;gap:6px;height:80px}
.axis{position:relative;flex:none;width:4.5em;font-size:11px;color:var(--muted)}
.axis span{position:absolute;right:0;line-height:1;transform:translateY(50%)}
.axis .scale-top{top:0;transform:none}.axis .scale-zero{bottom:0;transform:none}
.spark{display:block;flex:1;min-width:0;height:100%;color:var(--accent);background:var(--card);border-radius:8px}
.spark .grid{stroke:var(--muted);stroke-opacity:.4;stroke-dasharray:4 4}.spark .floor{stroke:var(--muted);stroke-opacity:.4}
.spark .area{fill:currentColor;fill-opacity:.15;stroke:none}
#dead-letter-queue form{margin:6px 0}#dead-letter-queue input,#dead-letter-queue select,#dead-letter-queue button{font:inherit}
#dead-letters th,#dead-letters td{text-align:left}td.reason{overflow-wrap:anywhere;min-width:12em}td.payload{text-align:left;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:12px}
@media (max-width:600px){header,main,.below{padding-left:10px;padding-right:10px}th,td{padding:4px 6px}.card .big{font-size:24px}}
";

/// The script that refreshes the live part every 2 s, served as `/live.js` (the page's
/// Content-Security-Policy allows scripts from the page's own origin only, no inline ones).
pub(crate) const SCRIPT: &str = r"
(function(){
  var main=document.getElementById('live'),stamp=document.getElementById('updated');
  function tick(){
    fetch('/view',{cache:'no-store'}).then(function(r){if(!r.ok)throw r;return r.text();})
      .then(function(t){main.innerHTML=t;stamp.textContent='updated '+new Date().toLocaleTimeString();stamp.className='ok';})
      .catch(function(){stamp.textContent='endpoint unreachable';stamp.className='bad';});
  }
  setInterval(tick,2000);
})();
";

/// The whole page: the fragment, rendered now, plus the script that refreshes it, then the
/// dead-letter section when there is one (outside the refreshing part: what the operator
/// selects or types stays; it is read again on reload and after each action). Without
/// scripts, a page without the section reloads every 5 s.
pub(crate) fn page(view: &View, dead_letters: Option<&str>) -> String {
    let refresh = if dead_letters.is_none() {
        r#"<noscript><meta http-equiv="refresh" content="5"></noscript>"#
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>NecroStack live view</title>{refresh}<style>{STYLE}</style></head>
<body><header><h1><span>NecroStack</span> live view</h1><small id="updated" class="muted">refreshes every 2 s · Prometheus text at <a href="/metrics">/metrics</a></small></header>
<main id="live">{}</main>{}<script src="/live.js"></script></body></html>
"#,
        fragment(view),
        dead_letters.map_or(String::new(), |d| format!(
            r#"<div class="below">{d}</div>"#
        )),
    )
}
