"""The first-party beacon: the JavaScript the Worker appends after a personalized page's last byte as
`<script data-pz-page="TOKEN" data-pz-events="/__pz/events">SOURCE</script>`, which reports back what the
visitor saw and did (docs/events.md, "The beacon"). It queues a `page_view` at once, one `exposure`
per marked slot the first time at least half of it (or half the viewport, for a slot taller than that) is on
screen, and a `cta_click` for a click on a link or button inside a marked slot (a same-origin link's url is
its path and query); the site's own code adds events with `pz.track(type, fields)`, the only global it
defines. It POSTs `{"v":1,"page":TOKEN,"events":[...]}`, at most 50 events a request, with
navigator.sendBeacon, or a keepalive fetch when that is missing or refuses. A timer flushes the queue a
second after its first event; a click (the page may be leaving), `pagehide` and a hidden tab flush it at
once, and so does `pz.track`, whose event goes in a keepalive request of its own, sent at once because a
cart or a purchase changes the session the next page is decided from: it returns a promise, so the site
can wait for it before it navigates. A second copy (a fragment fetched by the page itself) does nothing.
No timer runs while the queue is empty, and nothing it does throws into the page.
"""

from __future__ import annotations

# Adjacent literals, one statement or so each: readable here, no newlines in the page. Names:
# d document, s this script (document.currentScript is null once the script has run), L location,
# q queued events as JSON strings (a field that cannot be serialized fails in pz.track, never in a flush),
# t flush timer, H the body's opening with the page token, f flush, a queue (w=1: and flush now),
# S the slot of a marked element, Z slots already exposed, m observed element -> slot.
# fetch's default credentials mode, same-origin, sends the session cookie; so does sendBeacon.
SOURCE = (
    "(()=>{try{if(window.pz)return;"   # once per window: a fragment fetched by the page's own code
    "var d=document,s=d.currentScript,n=navigator,L=location,q=[],t=0,"
    "U=s.dataset.pzEvents,"
    "H=JSON.stringify({v:1,page:s.dataset.pzPage,events:[]}).slice(0,-2),"
    "f=()=>{clearTimeout(t);t=0;while(q.length){"
    "var b=H+q.splice(0,50)+']}';"
    "try{if(n.sendBeacon(U,b))continue}catch(x){}"
    "try{fetch(U,{method:'POST',body:b,keepalive:!0}).catch(()=>0)}catch(x){}}},"
    "a=(y,o,w)=>{q.push(JSON.stringify({...o,type:y}));w?f():t||(t=setTimeout(f,1e3))},"
    "S=e=>e.dataset.pzSlot||e.getAttribute('data-personalized-region'),"
    "Z=new Set,m=new Map;"
    # its own keepalive request, at once; the promise lets the site wait before it navigates
    "window.pz={track:(y,o)=>{try{f();return fetch(U,{method:'POST',keepalive:!0,"
    "body:H+JSON.stringify({...o,type:y})+']}'}).catch(()=>0)}catch(x){}}};"
    "a('page_view',{url:L.pathname});"
    "addEventListener('pagehide',f);"
    "d.addEventListener('visibilitychange',()=>d.hidden&&f());"
    "d.addEventListener('click',e=>{try{"
    "var l=e.target.closest('a,button'),r=l&&l.closest('[data-pz-rule]'),k=r&&S(r);"
    "k&&a('cta_click',{slot:k,url:l.href?(l.origin==L.origin?l.pathname+l.search:l.href).slice(0,2e3):''},1)"
    "}catch(x){}},!0);"
    "var o=new IntersectionObserver(es=>es.forEach(e=>{"
    "var k=m.get(e.target);"
    # A slot taller than twice the viewport never reaches ratio .5: half the viewport counts too.
    "if(e.isIntersecting&&(e.intersectionRatio>=.5||e.intersectionRect.height>=innerHeight/2)){"
    "o.unobserve(e.target);Z.has(k)||(Z.add(k),a('exposure',{slot:k}))}"
    "}),{threshold:[0,.1,.2,.3,.4,.5]});"
    "d.querySelectorAll('[data-pz-rule]').forEach(r=>{var k=S(r);"
    # A display:contents wrapper has no box and never intersects: its children do.
    "k&&(getComputedStyle(r).display=='contents'?r.children.length?[...r.children]:[r.parentNode]:[r])"
    ".forEach(c=>{m.set(c,k);o.observe(c)})})"
    "}catch(x){}})()"
)
