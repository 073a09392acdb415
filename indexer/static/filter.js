(function () {
  var box = document.getElementById("filter"), none = document.getElementById("nomatch");
  var rows = document.querySelectorAll("#projects tr[data-name]");
  box.addEventListener("input", function () {
    var q = box.value.trim().toLowerCase().replace(/[-_.]+/g, "-"), shown = 0;
    rows.forEach(function (r) {
      var hit = r.getAttribute("data-name").indexOf(q) !== -1 || r.textContent.toLowerCase().indexOf(q) !== -1;
      r.hidden = !hit; if (hit) shown++;
    });
    none.hidden = shown !== 0;
  });
})();
