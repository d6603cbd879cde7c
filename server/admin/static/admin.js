// Copy buttons: <button data-copy="ID"> copies the value of the field with that id, and says so
// in the nearest status line. Without JavaScript the fields are still selectable.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch (error) {
    field.select();
    copied = document.execCommand("copy");
  }
  const status = document.querySelector(".copied");
  if (status) {
    status.textContent = copied ? "Copied: " + field.labels[0].textContent
                                : "Select the text and copy it by hand.";
  }
});
