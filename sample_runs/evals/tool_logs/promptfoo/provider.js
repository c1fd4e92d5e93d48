class Shouty {
  id() { return 'shouty'; }
  async callApi(prompt) { return { output: prompt.toUpperCase() }; }
}
module.exports = Shouty;
